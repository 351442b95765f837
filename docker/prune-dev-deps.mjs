// Turns a full (dev) node_modules into the production tree: removes every package package-lock.json marks
// "dev": true, and the .bin links left pointing at them. The image's build stage runs it because image builds
// here have no network for `npm ci --omit=dev`; the result is the same set of packages that command installs.
//
//   node prune-dev-deps.mjs APP_DIR      (APP_DIR holds package-lock.json and node_modules/)
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'

const MAX_LOCK_BYTES = 64 * 1024 * 1024

const app = resolve(process.argv[2] ?? '.')
const lockPath = join(app, 'package-lock.json')
if (statSync(lockPath).size > MAX_LOCK_BYTES) throw new Error(`${lockPath} is larger than ${MAX_LOCK_BYTES} bytes`)
const lock = JSON.parse(readFileSync(lockPath, 'utf8'))
if (lock.lockfileVersion < 2 || typeof lock.packages !== 'object') {
  throw new Error(`${lockPath}: lockfileVersion ${lock.lockfileVersion} has no "packages" map; regenerate it with npm 7 or later`)
}

let removed = 0
for (const [path, meta] of Object.entries(lock.packages)) {
  // "" is the project itself; only paths inside node_modules are packages.
  if (!path.startsWith('node_modules/') || meta.dev !== true) continue
  const dir = join(app, path)
  if (!existsSync(dir)) continue
  rmSync(dir, { recursive: true, force: true })
  removed++
}

// A link whose target is gone would fail at run time with a confusing ENOENT; drop it.
let links = 0
for (const binDir of [join(app, 'node_modules', '.bin')]) {
  if (!existsSync(binDir)) continue
  for (const name of readdirSync(binDir)) {
    const p = join(binDir, name)
    if (lstatSync(p).isSymbolicLink() && !existsSync(p)) { rmSync(p); links++ }
  }
}
// npm's hidden lockfile now describes packages that are gone; npm rebuilds it when missing.
rmSync(join(app, 'node_modules', '.package-lock.json'), { force: true })

let missing = 0
for (const [path, meta] of Object.entries(lock.packages)) {
  if (path.startsWith('node_modules/') && meta.dev !== true && meta.optional !== true && !existsSync(join(app, path))) {
    console.error(`prune-dev-deps: production package ${path} is missing (run npm ci on the host)`)
    missing++
  }
}
if (missing > 0) process.exit(1)
console.log(`prune-dev-deps: removed ${removed} dev-only packages and ${links} dangling .bin links`)
