/**
 * Validation without SDP126, for tests about other rules. The shipped environment files mirror the
 * upstream images at `:latest` (the only tag upstream publishes: deploy/deploy.sh of the guidance
 * repository), which SDP126 reports until `sdpipe pin` writes their digests (docs/pin.md); tests that
 * build on those files and check another rule leave that warning out. test/unit/pin/rules-pins.test.ts
 * and the invalid fixtures check SDP126 itself.
 */
import type { Diagnostic } from '../../lib/config/diagnostics';
import { validateFile, validateText } from '../../lib/config/validate';

/** Drop SDP126 from a validation result (the counts follow). */
function withoutPins<T extends { diagnostics: Diagnostic[]; warnings?: number }>(r: T): T {
  const diagnostics = r.diagnostics.filter((d) => d.rule !== 'SDP126');
  const dropped = r.diagnostics.length - diagnostics.length;
  return { ...r, diagnostics, ...(typeof r.warnings === 'number' ? { warnings: r.warnings - dropped } : {}) };
}

/** `validateText` without SDP126. */
export const validateTextNoPins = (...args: Parameters<typeof validateText>): ReturnType<typeof validateText> => withoutPins(validateText(...args));

/** `validateFile` without SDP126. */
export const validateFileNoPins = (...args: Parameters<typeof validateFile>): ReturnType<typeof validateFile> => withoutPins(validateFile(...args));
