export { BufferPool, type BufferPoolOptions, type BufferPoolStats } from './pool';
export {
  SharedRing,
  waitForChange,
  type SharedRingOptions,
  RING_CONTROL_BYTES,
  RING_DONE,
  RING_ERRNO,
  RING_HEAD,
  RING_META_INTS,
  RING_SLOT_SIZE,
  RING_SLOTS,
  RING_STALLS,
  RING_STOP,
  RING_TAIL,
} from './ring';
export { BufferPoolError, type BufferPoolErrorCode } from './errors';
