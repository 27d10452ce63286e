/**
 * Offline region facts from config/regions/<region>.yaml: the GPU instance families and sizes a
 * region offers, the general-purpose families, and the services pipeline steps rely on, each file
 * with an as-of date and its source. Read once per process.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { packageRoot } from '../paths';

/** Services that sdpipe's steps rely on. */
export interface RegionServices {
  readonly codepipeline: boolean;
  readonly codeconnections: boolean;
  readonly ecrPublic: boolean;
  readonly ecrPullThroughCache: boolean;
}

/** Facts about one region. */
export interface RegionFacts {
  readonly region: string;
  readonly partition: string;
  /** Date the facts were checked (YYYY-MM-DD). */
  readonly asOf: string;
  /** Where the facts come from. */
  readonly source: string;
  /** GPU families and the sizes offered. */
  readonly gpuInstanceFamilies: Readonly<Record<string, readonly string[]>>;
  /** Non-GPU families offered (system node group, bake instance). */
  readonly instanceFamilies: readonly string[];
  readonly services: RegionServices;
  /** Availability zone names. @default none: unknown (the stack then uses two zones) */
  readonly availabilityZones?: readonly string[];
  /** Kubernetes minor versions EKS offers in the region. @default none: unknown */
  readonly eksVersions?: readonly string[];
  /**
   * EKS managed add-ons known to be offered in the region (`aws eks describe-addon-versions`);
   * the stage installs `amazon-cloudwatch-observability` only where it is listed.
   * @default none: unknown (global regions then assume the add-on, aws-cn does not)
   */
  readonly eksAddons?: readonly string[];
}

/** One Kubernetes minor version's EKS support dates (YYYY-MM-DD). */
export interface EksVersionSupport {
  readonly released: string;
  readonly standardSupportEnd: string;
  readonly extendedSupportEnd: string;
}

/** The EKS support calendar, config/regions/eks-versions.yaml. */
export interface EksSupportCalendar {
  /** Date the calendar was checked. */
  readonly asOf: string;
  /** By minor version (`1.35`). */
  readonly versions: Readonly<Record<string, EksVersionSupport>>;
}

const cache = new Map<string, RegionFacts | undefined>();

/** The folder holding region facts. */
export function regionsDir(): string {
  return path.join(packageRoot(), 'config', 'regions');
}

/** Facts for a region, or undefined when no file exists for it. */
export function regionFacts(region: string, dir: string = regionsDir()): RegionFacts | undefined {
  const key = `${dir}\0${region}`;
  if (cache.has(key)) return cache.get(key);
  let facts: RegionFacts | undefined;
  if (/^[a-z0-9-]+$/.test(region)) {
    const file = path.join(dir, `${region}.yaml`);
    if (fs.existsSync(file)) facts = parse(fs.readFileSync(file, 'utf8')) as RegionFacts;
  }
  cache.set(key, facts);
  return facts;
}

const calendars = new Map<string, EksSupportCalendar>();

/** The EKS support calendar (config/regions/eks-versions.yaml). */
export function eksSupportCalendar(dir: string = regionsDir()): EksSupportCalendar {
  let c = calendars.get(dir);
  if (!c) {
    c = parse(fs.readFileSync(path.join(dir, 'eks-versions.yaml'), 'utf8')) as EksSupportCalendar;
    calendars.set(dir, c);
  }
  return c;
}

/** Compare minor versions (`1.9` < `1.10`). */
export function compareMinor(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** Whether a region offers an instance type, by its facts: `gpu` for GPU families, `general` for others, or `unknown`. */
export function instanceOffer(facts: RegionFacts, instanceType: string): 'gpu' | 'general' | 'not-offered' | 'unknown-family' {
  const [family, size] = instanceType.split('.', 2);
  const sizes = facts.gpuInstanceFamilies[family];
  if (sizes) return sizes.includes(size) ? 'gpu' : 'not-offered';
  if (facts.instanceFamilies.includes(family)) return 'general';
  return 'unknown-family';
}

/** Every GPU instance type a region offers (`g4dn.xlarge`, ...). */
export function gpuInstanceTypes(facts: RegionFacts): string[] {
  return Object.entries(facts.gpuInstanceFamilies).flatMap(([f, sizes]) => sizes.map((s) => `${f}.${s}`));
}
