// Stryker ignore-plugins for the mutation run of lib/crypto/ (issue 17). Each one leaves out a code
// shape whose mutants no test of behaviour can tell apart from the original; the reason is shown
// as the mutant's status reason in reports/mutation/. Kept narrow: only these exact shapes.
'use strict';
const { PluginKind, declareValuePlugin } = require('@stryker-mutator/api/plugin');

const isWipeCall = (stmt) =>
  stmt.type === 'ExpressionStatement' &&
  stmt.expression.type === 'CallExpression' &&
  stmt.expression.callee.type === 'Identifier' &&
  stmt.expression.callee.name === 'wipe';

/**
 * `readObject(value, required, [], …)`: the empty list of optional fields. Its only mutant adds
 * the field name "Stryker was here", which no real input carries; the refusal of unknown fields
 * itself is tested (any other name is refused).
 */
const noOptionalFields = {
  shouldIgnore(path) {
    const { node, parent } = path;
    if (
      node.type === 'ArrayExpression' &&
      node.elements.length === 0 &&
      path.listKey === 'arguments' &&
      path.key === 2 &&
      parent.type === 'CallExpression' &&
      parent.callee.type === 'Identifier' &&
      parent.callee.name === 'readObject'
    )
      return 'readObject with no optional fields: the only mutant allows a field name no input has';
    return undefined;
  },
};

/**
 * A block made only of `wipe(…)` calls (a `finally` that zeroes a key the function derived
 * itself): emptying it leaves every output the same; zeroing is memory hygiene, reviewed by hand.
 */
const wipeOnlyBlocks = {
  shouldIgnore(path) {
    const { node } = path;
    if (node.type === 'BlockStatement' && node.body.length > 0 && node.body.every(isWipeCall))
      return 'a block that only wipes secrets the function derived: not observable through the API';
    return undefined;
  },
};

module.exports.strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'no-optional-fields', noOptionalFields),
  declareValuePlugin(PluginKind.Ignore, 'wipe-only-blocks', wipeOnlyBlocks),
];
