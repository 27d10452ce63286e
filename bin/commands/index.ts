/**
 * The list of `sdpipe` commands. Each module only declares its options with commander and
 * loads its implementation lazily inside the action, so `sdpipe validate` loads no AWS SDK
 * and no aws-cdk-lib. Add a command by adding its registrar here.
 */
import type { Register } from '../cli';
import { register as validate } from './validate';
import { register as doctor } from './doctor';
import { register as importCommand } from './import';
import { register as plan } from './plan';
import { register as changes } from './changes';
import { register as review } from './review';
import { register as changeset } from './changeset';
import { register as models } from './models';
import { register as mirror } from './mirror';
import { register as build } from './build';
import { register as snapshot } from './snapshot';
import { register as synth } from './synth';
import { register as pipeline } from './pipeline';
import { register as smoke } from './smoke';
import { register as pin } from './pin';

/** Every command registrar, in `--help` order. */
export const COMMANDS: readonly Register[] = [validate, doctor, importCommand, plan, changes, review, changeset, models, mirror, build, snapshot, synth, pipeline, smoke, pin];
