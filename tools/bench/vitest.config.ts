import { posternVitest } from '../../tools/vitest-preset';

export default posternVitest(import.meta.dirname);
