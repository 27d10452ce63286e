// Jest global setup: make sure the system tools the integration tests use are present, so that
// `npm test` works on a fresh machine as the README's Quick start says. Missing Debian packages
// are installed when running as root with apt-get (as on CI and the project's machines); otherwise
// the run stops with the command to install them.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');

/** Debian package → a file it provides. */
const NEEDED = {
  'docker-registry': '/usr/bin/docker-registry',
  curl: '/usr/bin/curl',
  buildah: '/usr/bin/buildah',
  'busybox-static': '/bin/busybox',
};

module.exports = async function globalSetup() {
  const missing = Object.entries(NEEDED).filter(([, file]) => !fs.existsSync(file)).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  const canInstall = typeof process.getuid === 'function' && process.getuid() === 0 && fs.existsSync('/usr/bin/apt-get');
  if (!canInstall) {
    throw new Error(`the integration tests need Debian packages that are missing: ${missing.join(' ')}\n  install them: sudo apt-get install -y ${missing.join(' ')}`);
  }
  process.stderr.write(`test setup: installing ${missing.join(' ')} (apt-get)\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
};
