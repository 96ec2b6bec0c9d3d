// `tsvpn up --save-keys <dir>`: the IKE and ESP keys of every SA, as it is established or
// rekeyed, appended to the two files strongSwan's save-keys plugin writes there
// (`ikev2_decryption_table`, `esp_sa`, formats in wireshark-tables.ts), so that Wireshark or
// tshark decrypts a capture of the outer path (docs/wireshark.md). Whoever reads these files
// can decrypt the traffic: they are created mode 0600, in a directory that must exist and
// that not everyone can write to. Keys go nowhere else: errors name the file, never a key.
import { closeSync, constants, fchmodSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildSaInfo, ExportedIkeKeys } from '../ike/effects.js';
import { DaemonError } from './control.js';
import { espLines, ikev2Line } from './wireshark-tables.js';
import { errText } from './log.js';

export const IKE_TABLE = 'ikev2_decryption_table';
export const ESP_TABLE = 'esp_sa';


export class SaveKeys {
  private constructor(readonly dir: string) {}

  /** Check the directory; throws DaemonError saying what is wrong with it. */
  static open(dir: string): SaveKeys {
    let st;
    try {
      st = statSync(dir);
    } catch (e) {
      throw new DaemonError(`--save-keys ${dir}: ${errText(e)} (the directory must exist)`);
    }
    if (!st.isDirectory()) throw new DaemonError(`--save-keys ${dir}: not a directory`);
    // anyone who can write there could swap the files for links or read what we write
    if ((st.mode & 0o002) !== 0) throw new DaemonError(`--save-keys ${dir}: the directory is world-writable (mode ${(st.mode & 0o7777).toString(8)}); use one only you can write to, e.g. mkdir -m 700`);
    return new SaveKeys(dir);
  }

  /** One IKE SA's SK_e* and SK_a* (the caller zeroes them); false when Wireshark has no name for its cipher. */
  ike(k: ExportedIkeKeys): boolean {
    const line = ikev2Line(k);
    if (line !== undefined) this.append(IKE_TABLE, line);
    return line !== undefined;
  }

  /** Both directions of a Child SA (the caller zeroes its keys); false when Wireshark has no name for its cipher. */
  child(c: ChildSaInfo): boolean {
    const lines = espLines(c);
    if (lines !== undefined) this.append(ESP_TABLE, lines);
    return lines !== undefined;
  }

  /** Append to the file, created 0600; a file found with wider permissions is narrowed to 0600. Not through a symlink. */
  private append(name: string, text: string): void {
    const path = join(this.dir, name);
    const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new DaemonError(`${path} is not a regular file`);
      if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
  }
}
