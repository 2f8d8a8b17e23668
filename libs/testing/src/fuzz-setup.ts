// Vitest setup file of every fuzz run (tools/vitest-preset.ts adds it when POSTERN_TEST_KIND=fuzz).
import { installFuzzCounter } from './fuzz';

installFuzzCounter();
