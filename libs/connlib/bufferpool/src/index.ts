export { BufferPool, type BufferPoolOptions, type BufferPoolStats } from './pool';
export {
  SharedRing,
  waitForChange,
  changeOf,
  workerGcStats,
  workerGcStatsFromEnv,
  type WorkerGcStats,
  type SharedRingOptions,
  RING_CONTROL_BYTES,
  RING_DONE,
  RING_ERRNO,
  RING_GC_COUNT,
  RING_GC_MAX_MICROS,
  RING_GC_MICROS,
  RING_HEAD,
  RING_META_INTS,
  RING_SLOT_SIZE,
  RING_SLOTS,
  RING_STALLS,
  RING_STOP,
  RING_TAIL,
} from './ring';
export { BufferPoolError, type BufferPoolErrorCode } from './errors';
export { BatchArrays, ViewCache, type ViewCacheStats } from './views';
