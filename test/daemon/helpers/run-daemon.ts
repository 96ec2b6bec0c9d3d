// Runs one daemon in this process for the namespace tests (Node cannot setns, so each
// daemon is a child started under `ip netns exec`): node --import tsx run-daemon.ts <peer.json> <controlDir>
// SIGTERM/SIGINT take it down; the exit code is the daemon's.
import { loadPeerFile } from '../../../src/config/load.js';
import { startDaemon } from '../../../src/daemon/daemon.js';
import { stderrLogger } from '../../../src/daemon/log.js';

const [file, controlDir] = process.argv.slice(2);
try {
  const d = await startDaemon(loadPeerFile(file), { log: stderrLogger('debug'), controlDir });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void d.down(sig));
  process.exitCode = await d.done;
} catch (e) {
  process.stderr.write(`run-daemon: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}\n`);
  process.exitCode = 2;
}
