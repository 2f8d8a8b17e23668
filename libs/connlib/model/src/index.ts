// @postern/model: ids, resource/relay types, zod schemas of every portal message, address ranges,
// and the portal's per-connection derivations.
export * from './ids';
export * from './addresses';
export * from './phoenix';
export * from './resource';
export * from './relay';
export * from './interface';
export * from './parse';
export * from './client';
export * from './gateway';
export * from './relay-topic';
export * from './derive';
export * from './problem';
