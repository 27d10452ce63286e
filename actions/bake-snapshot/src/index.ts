/** Entry of the bake-snapshot action: runs {@link run}. */
import { run } from './main';

void run();
