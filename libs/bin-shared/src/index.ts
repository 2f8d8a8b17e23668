export { buildInfo, versionLine, type BuildInfo } from './build_info';
export {
  BinSharedError,
  NetlinkError,
  UnsupportedPlatformError,
  errnoName,
  type BinSharedErrorCode,
} from './errors';
export { KNOWN_DIRS_ENV, ipcSocketPath, knownDir, knownDirs, type Env, type KnownDir, type KnownDirs } from './known_dirs';
export { Hangup, Terminate, type SignalSource, type TerminateSignal } from './signals';
export { parseProcUptime, systemUptime } from './uptime';
export { outwardAddress } from './local_address';
export {
  DEVICE_ID_APP,
  DEVICE_ID_FILE,
  deriveDeviceId,
  getOrCreateDeviceId,
  parseDeviceIdFile,
  type DeviceId,
  type DeviceIdOptions,
  type DeviceIdSource,
} from './device_id';
export { deviceInfo, isPlaceholderSerial, parseOsRelease, type DeviceInfo, type DeviceInfoOptions } from './device_info';
export {
  DEFAULT_DNS_CONTROL_METHOD,
  DNS_CONTROL_METHODS,
  type DnsControlMethod,
  type DnsControlOptions,
  type DnsController,
  type RunCommand,
} from './dns_control_api';
export {
  BACKUP_SUFFIX,
  RESOLV_CONF_MARKER,
  createDnsController,
  parseDnsControlMethod,
  parseResolvConf,
  parseResolvectlDns,
  renderResolvConf,
  resolvectlDnsServers,
  revertStaleResolvConf,
  systemResolvers,
  type SystemResolversOptions,
} from './dns_control';
export type { ChangeNotifier, DnsNotifierOptions, NetworkNotifierOptions } from './network_changes_api';
export { newDnsNotifier, newNetworkNotifier } from './network_changes';
export {
  POSTERN_FWMARK,
  POSTERN_ROUTE_TABLE,
  POSTERN_RULE_PRIORITY,
  type IpNetwork,
  type SetIpsResult,
  type TunDeviceManagerOptions,
} from './tun_device_manager_api';
export { TunDeviceManager, normaliseNetwork, parseIpNetwork } from './tun_device_manager';
export {
  CAP_NET_ADMIN,
  checkNetAdmin,
  missingNetAdminMessage,
  netAdminStatus,
  parseCapEff,
  type CapabilityOptions,
  type NetAdminCheck,
} from './capabilities';
export {
  DEFAULT_HEALTH_CHECK_PORT,
  startHealthCheck,
  type HealthCheckHandle,
  type HealthCheckOptions,
} from './health_check';
export {
  DATA_PLANE_HEAP_ROOM,
  DATA_PLANE_MMAP_THRESHOLD,
  DATA_PLANE_NODE_FLAGS,
  DATA_PLANE_PROCESS,
  HEAP_REEXEC_VAR,
  heapRoom,
  MAX_MMAP_THRESHOLD,
  ProcessMemoryError,
  missingEnv,
  missingNodeFlags,
  reexecArgv,
  reexecAtStart,
  reexecWith,
  setMmapThreshold,
  trimMalloc,
  userMmapThreshold,
  type ProcessMemoryErrorCode,
  type ProcessSettings,
  type ReexecOptions,
} from './process_memory';
export {
  SCHED_BATCH,
  SCHED_OTHER,
  SCHED_POLICY_VAR,
  SchedulingError,
  ownThreadIds,
  parseSchedulingPolicy,
  schedulingAtStart,
  setSchedulingPolicy,
  threadPolicy,
  type SchedulingErrorCode,
  type SchedulingPolicy,
} from './scheduling';
