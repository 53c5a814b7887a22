// CustomResourceDefinitions with the real kubectl: apply a CRD, wait for Established, create
// instances, list them with the printer columns, and see schema violations rejected.
import test from 'ava';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let work: string;

test.before(async () => {
  srv = await startServer();
  work = mkdtempSync(join(tmpdir(), 'skiff-crd-'));
});

test.after.always(async () => {
  await srv?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

function file(name: string, content: string): string {
  const p = join(work, name);
  writeFileSync(p, content);
  return p;
}

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {}
        scale:
          specReplicasPath: .spec.size
          statusReplicasPath: .status.size
      additionalPrinterColumns:
        - name: Size
          type: integer
          jsonPath: .spec.size
        - name: Color
          type: string
          jsonPath: .spec.color
        - name: Age
          type: date
          jsonPath: .metadata.creationTimestamp
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size:
                  type: integer
                  minimum: 1
                  maximum: 10
                color:
                  type: string
                  enum: [red, blue]
                  default: red
            status:
              type: object
              properties:
                size:
                  type: integer
`;

test.serial('a CRD becomes a served resource with printer columns and schema validation', async (t) => {
  let r = await srv.kubectl(['apply', '-f', file('crd.yaml', CRD)]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /customresourcedefinition.apiextensions.k8s.io\/widgets.example.com created/);
  r = await srv.kubectl(['wait', '--for=condition=Established', 'crd/widgets.example.com', '--timeout=30s']);
  t.is(r.code, 0, r.stderr);

  r = await srv.kubectl(['apply', '-f', file('w1.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n  color: blue\n')]);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /widget.example.com\/w1 created/);
  r = await srv.kubectl(['create', '-f', file('w2.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w2\nspec:\n  size: 5\n')]);
  t.is(r.code, 0, r.stderr);

  r = await srv.kubectl(['get', 'widgets']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /NAME\s+SIZE\s+COLOR\s+AGE/);
  t.regex(r.stdout, /w1\s+3\s+blue/);
  // The schema default filled in the color.
  t.regex(r.stdout, /w2\s+5\s+red/);
  r = await srv.kubectl(['get', 'wd', 'w1', '-o', 'jsonpath={.spec.size}']);
  t.is(r.stdout, '3');

  // Schema violations: out of range, wrong enum, missing required, wrong type, unknown field.
  for (const [name, spec, pattern] of [
    ['bad1', 'size: 20', /spec\.size/],
    ['bad2', 'size: 2\n  color: pink', /Unsupported value: "pink"/],
    ['bad3', 'color: red', /spec\.size: Required value/],
    ['bad4', 'size: "three"', /spec\.size/],
    ['bad5', 'size: 2\n  shape: round', /unknown field "spec\.shape"/],
  ] as const) {
    r = await srv.kubectl(['create', '-f', file(`${name}.yaml`, `apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: ${name}\nspec:\n  ${spec}\n`)]);
    t.not(r.code, 0, `${name} was accepted`);
    t.regex(r.stderr, pattern, name);
  }
  r = await srv.kubectl(['get', 'widgets', '-o', 'name']);
  t.deepEqual(r.stdout.trim().split('\n').sort(), ['widget.example.com/w1', 'widget.example.com/w2']);

  // Scale subresource and status subresource.
  r = await srv.kubectl(['scale', 'widget', 'w1', '--replicas=7']);
  t.is(r.code, 0, r.stderr);
  r = await srv.kubectl(['get', 'widget', 'w1', '-o', 'jsonpath={.spec.size}']);
  t.is(r.stdout, '7');
  r = await srv.kubectl(['patch', 'widget', 'w1', '--subresource=status', '--type=merge', '-p', '{"status":{"size":7}}']);
  t.is(r.code, 0, r.stderr);
  r = await srv.kubectl(['get', 'widget', 'w1', '-o', 'jsonpath={.status.size}']);
  t.is(r.stdout, '7');

  // Deleting the CRD deletes its instances and the resource disappears.
  r = await srv.kubectl(['delete', 'crd', 'widgets.example.com', '--timeout=60s']);
  t.is(r.code, 0, r.stderr);
  r = await srv.kubectl(['get', 'widgets']);
  t.not(r.code, 0);
});
