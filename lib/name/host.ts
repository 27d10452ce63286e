/**
 * Host names inside the strings an environment file holds: the host of a URL-ish value, whether a
 * reference's first path component is a registry host, and loopback hosts.
 */

/** The host of a URL-ish string (`https://h/…`, `oci://h/…`, `h/…`), lowercased, without its port; undefined when it names none. */
export function hostOf(value: string): string | undefined {
  const m = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([a-z0-9-]+(?:\.[a-z0-9-]+)+)(?::\d+)?(?:\/|$)/i.exec(value.trim());
  return m ? m[1].toLowerCase() : undefined;
}

/**
 * True when the first path component of a reference is a registry host rather than a Docker Hub
 * namespace: it has a dot or a port, or is `localhost` or an IPv6 literal (the rule of
 * distribution/reference and go-containerregistry).
 */
export function looksLikeRegistryHost(component: string): boolean {
  return /[.:]/.test(component) || component === 'localhost' || component.startsWith('[');
}

/** True for loopback hosts (`localhost`, `127.x.x.x`, `[::1]`), with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || /^127(?:\.\d{1,3}){3}$/.test(name) || name === '[::1]';
}
