// Entry of the review-config action: only calls run().
import { run } from './main';

void run();
