export { CommandError, Netns, link, listNamespaces, removeLeftovers, run } from './netns';
export { bundleApp, packageNodeFlags, runNode, type BundledRun } from './bundle';
export { fuzzRuns, fuzzTimeLimitMs, recordInputs, currentInputs, installFuzzCounter, cliInput, nastyValue, parsesOrRefuses, type FuzzFlagTable, loadCorpus, replayCorpus, hexInput, textInput, argvInput, type CorpusEntry } from './fuzz';
export { keepLogs, writeLog, logPath, registerSecret, resetSecrets, testLogDir, TestLogError, SECRETS_FILE, MIN_SECRET_LENGTH, type HasOutput } from './logs';
export { xorshiftRng, type TestRng } from './rng';
export { mainIsolateOf, parseTraceGcLine, parseTraceGcText, TraceGcLineReader, MAX_TRACE_GC_LINE, type TraceGcEvent, type GcKind } from './trace-gc';
export { TestPhoenixPortal, TestPortalError, sendFrame, parseFrame, gatewayInit, createAuthorization, type PhoenixFrame, type TestPortalOptions, type TestAuthorization } from './phoenix-portal';
export { measureAllocations, steadyAllocations, type AllocationReport } from './heap-sampling';
