import { posternVitest } from '../../tools/vitest-preset';

// Each fault e2e sets its own budget per `it`; the soak's follows SOAK_MINUTES.
export default posternVitest(import.meta.dirname, { e2eTimeout: 330_000 });
