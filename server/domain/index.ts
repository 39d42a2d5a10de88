/* The ground floor: every layer above may import this; it imports nothing of Griffin's but itself. */
export * from './vocabulary.ts';
export * from './lifecycle.ts';
export * from './inputs.ts';
export * from './entities.ts';
export * from './views.ts';
export * from './scheduleInputs.ts';
export * from './timeContext.ts';
export * from './secrets.ts';
export * from './runEnv.ts';
export * from './queues.ts';
export * from './retryPolicy.ts';
