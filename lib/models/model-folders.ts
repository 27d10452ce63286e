/**
 * The folder layout of the model bucket that the inference runtimes read. The table lives with
 * the other deploy needs in lib/config/deploy-needs.ts (the validator warns on unknown folders);
 * it is re-exported here for the model sync.
 */
export { MODEL_FOLDERS, topFolderOf, isKnownModelFolder } from '../config/deploy-needs';
