/**
 * Lambda code the stack bundles itself: a TypeScript handler under stages/lambda/<name>/ is
 * bundled with esbuild, in-process, at synth time (no Docker, no network: it works on a runner in
 * China), into an asset whose hash is the bundle's own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, DockerImage } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SdpipeError } from '../../lib/errors';
import { packageRoot } from '../../lib/paths';

/** The entry file of the handler in stages/lambda/<name>/ (TypeScript in the repository, JavaScript in a build). */
export function lambdaEntry(name: string): string {
  const dir = path.join(__dirname, '..', 'lambda', name);
  for (const f of ['index.ts', 'index.js']) {
    const file = path.join(dir, f);
    if (fs.existsSync(file)) return file;
  }
  throw new SdpipeError(`${name} Lambda source not found under ${dir}`, { hint: 'run from the repository or a full build (npm run build)' });
}

/** Bundle a handler with esbuild into `outDir/index.js` (synchronous, in-process). */
export function bundleHandler(outDir: string, entry: string): void {
  let esbuild: typeof import('esbuild');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    esbuild = require('esbuild') as typeof import('esbuild');
  } catch (err) {
    throw new SdpipeError('esbuild is not installed; the stack\'s Lambdas are bundled with it at synth time', { cause: err, hint: 'run npm ci (esbuild is a devDependency)' });
  }
  esbuild.buildSync({
    // Paths inside the bundle are relative to this folder: the package root, not the process's
    // working directory, so the asset (and its hash) is the same from wherever sdpipe runs, and a
    // caller that changed directory (the hand-over test runs each step in its own folder) still
    // resolves the handler's imports.
    absWorkingDir: packageRoot(),
    entryPoints: [entry],
    outfile: path.join(outDir, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
}

/** The asset of a handler, bundled locally (the Docker image named is never pulled: local bundling always succeeds). */
export function bundledCode(entry: string): lambda.Code {
  return lambda.Code.fromAsset(path.dirname(entry), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('sdpipe-bundles-locally'),
      local: { tryBundle: (outputDir: string) => (bundleHandler(outputDir, entry), true) },
    },
  });
}
