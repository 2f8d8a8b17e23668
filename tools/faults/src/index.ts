// @postern/faults: support for the fault, roaming, netem and soak e2e suites (test/e2e) — /proc sampling and
// the growth verdict of a soak run.
export { FaultsError, type FaultsErrorCode } from './errors';
export { assessGrowth, median, slope, type GrowthOptions, type GrowthVerdict } from './growth';
export { FullGcCollector, type FullGc } from './heap';
export { parseVmRss, sampleProcess, type ProcSample } from './proc-stats';
