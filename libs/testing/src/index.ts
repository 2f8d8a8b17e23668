export { CommandError, Netns, link, listNamespaces, removeLeftovers, run } from './netns';
export { bundleApp, runNode, type BundledRun } from './bundle';
