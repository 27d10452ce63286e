/**
 * `sdpipe validate --live`: add the live checks (live.ts) to validation reports. Only files
 * without offline errors are checked live; each environment is asked in its own region.
 */
import { countBySeverity, sortDiagnostics } from './diagnostics';
import { checkLive, createLiveClients } from './live';
import type { LiveClients } from './live';
import type { FileReport } from './report';

/** Run the live checks of every valid report and merge their findings. */
export async function withLiveChecks(reports: readonly FileReport[], clientsFor: (region: string) => Promise<LiveClients> = createLiveClients): Promise<FileReport[]> {
  const out: FileReport[] = [];
  const clients = new Map<string, Promise<LiveClients>>();
  for (const r of reports) {
    const config = r.result.config;
    if (!r.valid || !config) {
      out.push(r);
      continue;
    }
    const region = config.environment.region;
    if (!clients.has(region)) clients.set(region, clientsFor(region));
    const live = await checkLive(config, r.result.source, await clients.get(region)!);
    const diagnostics = sortDiagnostics([...r.diagnostics, ...live]);
    const { errors, warnings } = countBySeverity(diagnostics);
    out.push({ ...r, diagnostics, errors, warnings, valid: errors === 0 });
  }
  return out;
}
