/**
 * Chart references. A mirrored chart (`mirror.charts[].source`) is an OCI artifact written like an
 * image reference, `oci://host/repository:version` (parsed by ./image-reference). A runtime's
 * `chartRepository` is either an OCI repository whose last path segment is the chart
 * (`oci://host/path/<chart>`) or an http(s) Helm repository.
 */

/** The schemes a runtime's `chartRepository` may start with. */
export const CHART_REPOSITORY_SCHEMES = ['oci', 'https', 'http'] as const;

/** One of {@link CHART_REPOSITORY_SCHEMES}. */
export type ChartRepositoryScheme = (typeof CHART_REPOSITORY_SCHEMES)[number];

/** The scheme of a chart repository (`oci://…` → `oci`), or undefined when it has none of {@link CHART_REPOSITORY_SCHEMES}. */
export function chartRepositoryScheme(repository: string): ChartRepositoryScheme | undefined {
  const scheme = /^([a-z]+):\/\//.exec(repository)?.[1];
  return CHART_REPOSITORY_SCHEMES.find((s) => s === scheme);
}

/** The chart name of an OCI chart repository (`oci://host/charts/sd-on-eks`, `charts/sd-on-eks` → `sd-on-eks`): its last path segment. */
export function chartNameOf(repository: string): string {
  return repository.slice(repository.lastIndexOf('/') + 1);
}
