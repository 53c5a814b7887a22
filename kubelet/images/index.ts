// The image store's public surface for the agent and the CLI.
export { ImageStore, ImageInUseError, ImageNotFoundError, hostPlatform, type ImageRecord, type LayerRecord, type Lease, type ImageRuntimeConfig, type ImportProgress } from './store.js';
export { importOciLayout, importDockerArchive, importPath, type ImportOptions, type ImportResult } from './import.js';
export { mountRootfs, unmountRootfs, mountsUnder, type MountedRootfs } from './rootfs.js';
export { parseReference, normalizeReference, familiarName, formatReference, ReferenceError, type ImageReference } from './reference.js';
export { DigestMismatchError } from './digest.js';
export { UnsafePathError } from './unpack.js';
export { TarFormatError } from './tar-reader.js';
export { pullImage, ensureImage, credentialsFromPullSecrets, defaultPullPolicy, imagePullReason, ImageNeverPullError, type PullOptions, type PullPolicy, type PullProgress } from './pull.js';
export { RegistryClient, RegistryError, RegistryUnauthorizedError, ManifestUnknownError, selectPlatformManifest, type RegistryAuth } from './registry.js';
