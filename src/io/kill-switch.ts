// The kill switch on the host (peer.json `killSwitch`): kill-switch-rules.ts's table loaded
// with `nft -f -`, its drop counter read, and the table deleted on `down` or, after a SIGKILL
// left it in place (nothing leaks meanwhile: that is the point), at the next start. tsvpn
// needs nothing but iproute2 otherwise, so nft is looked for only when a kill switch is asked for.
import { spawnSync } from 'node:child_process';
import { DROP_COUNTER, KillSwitchError, killSwitchScript, killSwitchTable, type KillSwitchPlan } from './kill-switch-rules.js';

export { KillSwitchError, killSwitchTable, type KillSwitchPlan } from './kill-switch-rules.js';

/** What to install when `nft` is missing. */
export const NFT_PACKAGE = 'nftables';

interface NftResult {
  ok: boolean;
  missing: boolean;
  stdout: string;
  stderr: string;
}

function nft(args: string[], input?: string): NftResult {
  const r = spawnSync('nft', args, { encoding: 'utf8', timeout: 10_000, ...(input === undefined ? {} : { input }) });
  if (r.error) return { ok: false, missing: (r.error as NodeJS.ErrnoException).code === 'ENOENT', stdout: '', stderr: r.error.message };
  return { ok: r.status === 0, missing: false, stdout: r.stdout ?? '', stderr: (r.stderr ?? '').trim() || `exit status ${r.status}` };
}

/** Throws KillSwitchError naming the package when `nft` cannot be run. */
export function requireNft(): void {
  const r = nft(['--version']);
  if (r.missing) throw new KillSwitchError(`killSwitch needs nft, which is not installed: install the ${NFT_PACKAGE} package (apt-get install ${NFT_PACKAGE}, dnf install ${NFT_PACKAGE})`);
  if (!r.ok) throw new KillSwitchError(`killSwitch needs nft, which does not run: ${r.stderr}`);
}

/** Load (or replace, in one transaction) the plan's table. Throws KillSwitchError with nft's own message. */
export function installKillSwitch(plan: KillSwitchPlan): void {
  requireNft();
  const r = nft(['-f', '-'], killSwitchScript(plan));
  if (!r.ok) throw new KillSwitchError(`nft could not load table inet ${killSwitchTable(plan.name)}: ${r.stderr}`);
}

/** Delete the tunnel's table; true when there was one. Never throws (no nft: there is no table either). */
export function removeKillSwitch(name: string): boolean {
  return nft(['delete', 'table', 'inet', killSwitchTable(name)]).ok;
}

/** Packets the kill switch dropped since it was loaded; undefined when its table is not there. */
export function killSwitchDrops(name: string): number | undefined {
  const r = nft(['-j', 'list', 'counter', 'inet', killSwitchTable(name), DROP_COUNTER]);
  if (!r.ok) return undefined;
  try {
    const list = (JSON.parse(r.stdout) as { nftables?: { counter?: { packets?: number } }[] }).nftables ?? [];
    return list.find((x) => x.counter)?.counter?.packets;
  } catch {
    return undefined;
  }
}
