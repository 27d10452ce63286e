// Entry of the validate-config action: only calls run().
import { run } from './main';

void run();
