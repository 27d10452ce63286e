/** Entry of the build-images action: runs {@link run}. */
import { run } from './main';

void run();
