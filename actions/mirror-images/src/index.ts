/** Entry of the mirror-images action: runs {@link run}. */
import { run } from './main';

void run();
