/**
 * Entry of the sync-models action: runs {@link run}. The bundle also serves as its own sha256
 * worker (a single file cannot hand hash-wasm to a worker any other way), so a worker started from
 * it hashes and does nothing else.
 */
import { hashInWorkersFrom, runHashWorkerIfAsked } from '../../../lib/models/part-hasher';
import { run } from './main';

if (!runHashWorkerIfAsked()) {
  hashInWorkersFrom(__filename);
  void run();
}
