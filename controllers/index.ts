// The controllers `skiff controller-manager` (and `skiff server`) run.
import type { ControllerFactory } from './controller.js';

export const controllerFactories: ControllerFactory[] = [];
