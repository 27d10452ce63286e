/**
 * The one small v1alpha2 task the smoke test submits (docs/smoke-test.md). Its shape is the
 * original solution's example requests (guidance v1.2.0 `test/v1alpha2/t2i.json` and
 * `pipeline.json`, vendored as test/contracts/vendor/queue-agent/requests/v1alpha2/), with the
 * image made small (256x256) and the sampling short (4 steps) so that it costs little beyond the
 * GPU node's start. What the request Lambda accepts is stages/lambda/request-handler/validate-request.ts:
 * `task.metadata` {id, runtime, tasktype, prefix, context} and `task.content`; the unit test runs
 * each built task through that validation. Pure: no I/O.
 */
import { randomBytes } from 'node:crypto';
import { SdpipeError } from '../errors';

/** Runtime types and the task type the smoke test sends each (request handler's TASK_TYPES). */
export const SMOKE_TASK_TYPE = { sdwebui: 'text-to-image', comfyui: 'pipeline' } as const;

/** A runtime type the smoke test can build a task for. */
export type SmokeRuntimeType = keyof typeof SMOKE_TASK_TYPE;

/** The S3 key prefix the smoke task's results go under (the agent writes `<prefix>/<id>/…`). */
export const SMOKE_PREFIX = 'sdpipe-smoke';

/** Image side and sampling steps of the smoke task. */
export const SMOKE_IMAGE = { width: 256, height: 256, steps: 4 } as const;

/** The metadata of a smoke task (the request handler's `TaskMetadata`). */
export interface SmokeTaskMetadata {
  readonly id: string;
  readonly runtime: string;
  readonly tasktype: string;
  readonly prefix: string;
  readonly context: string;
}

/** A `POST /v1alpha2` request body. */
export interface SmokeRequest {
  readonly task: { readonly metadata: SmokeTaskMetadata; readonly content: Record<string, unknown> };
}

/**
 * A unique task id: `sdpipe-smoke-<UTC yyyymmddhhmmss>-<8 hex>`, 34 characters, within the 64 the
 * agent keeps (`str(metadata["id"])[:64]`, main.py process_message) and the handler's id pattern.
 * @param now the submission time
 * @param random 4 random bytes. @default crypto.randomBytes(4)
 */
export function smokeTaskId(now: Date, random: Buffer = randomBytes(4)): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return `sdpipe-smoke-${stamp}-${random.toString('hex').slice(0, 8)}`;
}

/** The content of a small SD WebUI text-to-image task (t2i.json with 256x256 and 4 steps). */
function sdwebuiContent(): Record<string, unknown> {
  return { alwayson_scripts: {}, prompt: 'A dog', steps: SMOKE_IMAGE.steps, width: SMOKE_IMAGE.width, height: SMOKE_IMAGE.height };
}

/**
 * The content of a small ComfyUI pipeline task: pipeline.json (the default text-to-image workflow)
 * with 4 steps and a 256x256 latent. Assumption: the runtime serves the checkpoint the upstream
 * example names (`sd_xl_turbo_1.0.safetensors`); otherwise pass `checkpoint`.
 */
function comfyuiContent(checkpoint = 'sd_xl_turbo_1.0.safetensors'): Record<string, unknown> {
  const clip = ['4', 1];
  return {
    '3': {
      inputs: { seed: 89465186141685, steps: SMOKE_IMAGE.steps, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
      class_type: 'KSampler',
      _meta: { title: 'KSampler' },
    },
    '4': { inputs: { ckpt_name: checkpoint }, class_type: 'CheckpointLoaderSimple', _meta: { title: 'Load Checkpoint' } },
    '5': { inputs: { width: SMOKE_IMAGE.width, height: SMOKE_IMAGE.height, batch_size: 1 }, class_type: 'EmptyLatentImage', _meta: { title: 'Empty Latent Image' } },
    '6': { inputs: { text: 'beautiful scenery nature glass bottle landscape, , purple galaxy bottle,', clip }, class_type: 'CLIPTextEncode', _meta: { title: 'CLIP Text Encode (Prompt)' } },
    '7': { inputs: { text: 'text, watermark', clip }, class_type: 'CLIPTextEncode', _meta: { title: 'CLIP Text Encode (Prompt)' } },
    '8': { inputs: { samples: ['3', 0], vae: ['4', 2] }, class_type: 'VAEDecode', _meta: { title: 'VAE Decode' } },
    '9': { inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] }, class_type: 'SaveImage', _meta: { title: 'Save Image' } },
  };
}

/** Options of {@link buildSmokeTask}. */
export interface SmokeTaskOptions {
  /** The runtime's name (`modelsRuntime[].name`; the SNS attribute its queue filters on). */
  readonly runtime: string;
  /** The runtime's type. */
  readonly type: string;
  /** The task id. @default a new {@link smokeTaskId} */
  readonly id?: string;
  /** The submission time, for the default id. @default now */
  readonly now?: Date;
  /** ComfyUI only: the checkpoint file the workflow loads. @default sd_xl_turbo_1.0.safetensors */
  readonly checkpoint?: string;
}

/** Build the smoke task for a runtime. Throws (naming the runtime) for a type it has no task for. */
export function buildSmokeTask(options: SmokeTaskOptions): SmokeRequest {
  const id = options.id ?? smokeTaskId(options.now ?? new Date());
  if (!(options.type in SMOKE_TASK_TYPE)) {
    throw new SdpipeError(`runtime ${options.runtime} has type "${options.type}"; the smoke test has a task for ${Object.keys(SMOKE_TASK_TYPE).join(' and ')} only`, {
      hint: 'set smokeTest.runtime to an sdwebui or comfyui runtime, or smokeTest.enabled: false',
    });
  }
  const type = options.type as SmokeRuntimeType;
  const metadata: SmokeTaskMetadata = { id, runtime: options.runtime, tasktype: SMOKE_TASK_TYPE[type], prefix: SMOKE_PREFIX, context: '' };
  return { task: { metadata, content: type === 'sdwebui' ? sdwebuiContent() : comfyuiContent(options.checkpoint) } };
}

/** Where the queue agent writes the task's results: `<prefix>/<id>/` (main.py process_message: `metadata["prefix"] + "/" + str(task_id)`). */
export function resultPrefix(metadata: Pick<SmokeTaskMetadata, 'id' | 'prefix'>): string {
  return `${metadata.prefix}/${metadata.id.slice(0, 64)}/`;
}
