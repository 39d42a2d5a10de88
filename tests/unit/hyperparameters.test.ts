import { describe, expect, it } from 'vitest';
import { checkHyperparameters, coerceHyperparameters, hyperparameterSchemaProblem } from '../../server/services/hyperparameters.ts';
import { checkArtifactPath, resolveInside } from '../../server/files/paths.ts';
import { canonicalJson } from '../../server/ids.ts';
import { withInterpreter } from '../../server/executors/local.ts';

const schema = {
  properties: {
    lr: { type: 'number', exclusiveMinimum: 0 },
    epochs: { type: 'integer', minimum: 1 },
    shuffle: { type: 'boolean' },
    optimizer: { type: 'string', enum: ['sgd', 'adam'] },
  },
};

describe('hyperparameters', () => {
  it('reads templated strings as the declared type and leaves other strings alone', () => {
    expect(coerceHyperparameters({ lr: '0.1', epochs: '8', shuffle: 'True', optimizer: 'adam', other: '3' }, schema)).toEqual({
      lr: 0.1,
      epochs: 8,
      shuffle: true,
      optimizer: 'adam',
      other: '3',
    });
    expect(coerceHyperparameters({ lr: 'fast' }, schema)).toEqual({ lr: 'fast' });
  });

  it('rejects values outside the schema with the key in the field', () => {
    expect(() => checkHyperparameters({ lr: 0 }, schema, 'overrides.hyperparameters')).toThrow(/must be > 0/);
    expect(() => checkHyperparameters({ epochs: 1.5 }, schema, 'h')).toThrow(expect.objectContaining({ field: 'h.epochs' }));
    expect(() => checkHyperparameters({ optimizer: 'rmsprop' }, schema, 'h')).toThrow(/one of "sgd", "adam"/);
    expect(() => checkHyperparameters({ unknown: 1 }, { ...schema, additionalProperties: false }, 'h')).toThrow(/not a hyperparameter/);
    expect(() => checkHyperparameters({ lr: 0.1, epochs: 3, shuffle: false, optimizer: 'sgd', extra: 'ok' }, schema, 'h')).not.toThrow();
  });

  it('checks every JSON Schema keyword a model declares, not a subset, naming the key', () => {
    const sweep = { properties: { rates: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 }, minItems: 1 }, name: { type: 'string', pattern: '^[a-z]+$' } }, required: ['rates'] };
    expect(() => checkHyperparameters({ rates: [0.1, 0] }, sweep, 'h')).toThrow(expect.objectContaining({ field: 'h.rates.1', message: 'h.rates.1 must be > 0 (got 0)' }));
    expect(() => checkHyperparameters({ rates: [] }, sweep, 'h')).toThrow(/h\.rates must NOT have fewer than 1 items/);
    expect(() => checkHyperparameters({ rates: [1], name: 'A1' }, sweep, 'h')).toThrow(expect.objectContaining({ field: 'h.name' }));
    expect(() => checkHyperparameters({}, sweep, 'h')).toThrow(expect.objectContaining({ field: 'h.rates', message: 'h.rates is required by this model and has no default' }));
    expect(() => checkHyperparameters({ epochs: 'many' }, schema, 'h')).toThrow('h.epochs must be an integer (got "many")');
  });

  it('a schema that is not one is refused when the model is defined, and constrains nothing if one was stored', () => {
    const broken = { properties: { lr: { type: 'float' } } };
    expect(hyperparameterSchemaProblem(broken)).toMatch(/type/);
    expect(hyperparameterSchemaProblem(schema)).toBeUndefined();
    expect(() => checkHyperparameters({ lr: 'anything' }, broken, 'h')).not.toThrow();
  });
});

describe('paths', () => {
  it('keeps user paths inside their root', () => {
    expect(resolveInside('/srv/code', 'examples/a', 'codeUri')).toBe('/srv/code/examples/a');
    expect(() => resolveInside('/srv/code', '../etc', 'codeUri')).toThrow(/inside the code root/);
    expect(() => resolveInside('/srv/code', 'file:///etc/passwd', 'uri')).toThrow(/inside the code root/);
    expect(() => resolveInside('/srv/code', 'ftp://x/y', 'uri')).toThrow(/unsupported scheme/);
  });

  it('refuses artifact paths that could leave the run directory', () => {
    expect(checkArtifactPath('plots/roc.png')).toBe('plots/roc.png');
    for (const bad of ['../x', 'a/../../b', '/abs', 'a//b', 'a/./b', 'a\\b', '']) expect(() => checkArtifactPath(bad), bad).toThrow();
  });
});

describe('small pure helpers', () => {
  it('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 1, x: 2 }], c: null } })).toBe(canonicalJson({ a: { c: null, d: [1, { x: 2, y: 1 }] }, b: 1 }));
  });

  it('a leading python in an entrypoint is the runtime interpreter', () => {
    expect(withInterpreter('python train.py --x', '/opt/venv/bin/python')).toBe('/opt/venv/bin/python train.py --x');
    expect(withInterpreter('python3 train.py', null)).toBe('python3 train.py');
    expect(withInterpreter('pythonic.sh', '/p')).toBe('pythonic.sh');
  });
});
