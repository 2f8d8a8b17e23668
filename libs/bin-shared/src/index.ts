export { buildInfo, versionLine, type BuildInfo } from './build_info';
