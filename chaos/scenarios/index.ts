import { clockScenario } from './clock.js';
import { concurrentScenario } from './concurrent.js';
import { connectionScenario } from './connection.js';
import { fullDiskScenario, unwritableDirectoryScenario } from './disk.js';
import { poisonScenario } from './poison.js';
import { restartScenario } from './restart.js';
import { servicesScenario } from './services.js';
import { sigkillScenario } from './sigkill.js';
import type { Scenario } from './support.js';

export const SCENARIOS: Scenario[] = [
  concurrentScenario,
  sigkillScenario,
  connectionScenario,
  restartScenario,
  servicesScenario,
  fullDiskScenario,
  unwritableDirectoryScenario,
  poisonScenario,
  clockScenario,
];
