// The one-command deploy (deploy/): the CloudFormation template is valid (cfn-lint from
// PyPI, installed by scripts/setup.sh into .venv-cfn) and says what AWS must enforce:
// the authenticated role reaches only the caller's own partition (dynamodb:LeadingKeys =
// the `sub` principal tag the identity pool maps from the user pool's token), nobody
// unauthenticated gets a role, and CloudFront serves the app with its CSP and HSTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const templatePath = path.join(root, 'deploy/ledgerline.template.json');
const t = JSON.parse(fs.readFileSync(templatePath, 'utf8'));
const R = t.Resources;
const ofType = (type) => Object.entries(R).filter(([, r]) => r.Type === type);

test('cfn-lint finds nothing wrong with the template', () => {
  const lint = path.join(root, '.venv-cfn/bin/cfn-lint');
  assert.ok(fs.existsSync(lint), 'cfn-lint is missing: run bash scripts/setup.sh');
  const r = spawnSync(lint, [templatePath], { encoding: 'utf8' });
  assert.equal(r.status, 0, `cfn-lint:\n${r.stdout}${r.stderr}`);
});

test('the authenticated role reaches DynamoDB only where the leading key is the caller\'s own sub', () => {
  const roles = ofType('AWS::IAM::Role');
  assert.equal(roles.length, 1);
  const [, role] = roles[0];
  const trust = role.Properties.AssumeRolePolicyDocument.Statement;
  assert.equal(trust.length, 1);
  assert.deepEqual(trust[0].Principal, { Federated: 'cognito-identity.amazonaws.com' });
  assert.deepEqual(trust[0].Action.sort(), ['sts:AssumeRoleWithWebIdentity', 'sts:TagSession']);
  assert.deepEqual(trust[0].Condition.StringEquals, { 'cognito-identity.amazonaws.com:aud': { Ref: 'IdentityPool' } });
  assert.deepEqual(trust[0].Condition['ForAnyValue:StringLike'], { 'cognito-identity.amazonaws.com:amr': 'authenticated' });

  const statements = role.Properties.Policies.flatMap((p) => p.PolicyDocument.Statement);
  const itemActions = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem'];
  for (const s of statements) {
    assert.equal(s.Effect, 'Allow');
    const actions = [].concat(s.Action);
    assert.ok(!actions.some((a) => a.includes('*')), `no wildcard action: ${actions}`);
    assert.deepEqual(s.Resource, { 'Fn::GetAtt': ['Table', 'Arn'] }, 'the table only');
    if (actions.some((a) => itemActions.includes(a))) {
      assert.deepEqual(s.Condition, { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['${aws:PrincipalTag/sub}'] } }, `${actions}: own partition only`);
    } else {
      assert.deepEqual(actions, ['dynamodb:DescribeTable'], 'without the condition: the table\'s status only');
    }
  }
  const granted = statements.flatMap((s) => [].concat(s.Action));
  for (const a of itemActions) assert.ok(granted.includes(a), `${a} granted`);
  assert.ok(!granted.includes('dynamodb:DeleteItem') && !granted.includes('dynamodb:Scan'), 'deletes are tombstones; no scans across partitions');
});

test('the identity pool maps the user pool\'s sub to the principal tag, for signed-in users only', () => {
  const [[, pool]] = ofType('AWS::Cognito::IdentityPool');
  assert.equal(pool.Properties.AllowUnauthenticatedIdentities, false);
  assert.equal(pool.Properties.CognitoIdentityProviders[0].ClientId.Ref, 'UserPoolClient');
  const [[, tag]] = ofType('AWS::Cognito::IdentityPoolPrincipalTag');
  assert.deepEqual(tag.Properties.PrincipalTags, { sub: 'sub' });
  assert.equal(tag.Properties.UseDefaults, false);
  assert.deepEqual(tag.Properties.IdentityPoolId, { Ref: 'IdentityPool' });
  assert.deepEqual(tag.Properties.IdentityProviderName, { 'Fn::GetAtt': ['UserPool', 'ProviderName'] });
  const [[, attach]] = ofType('AWS::Cognito::IdentityPoolRoleAttachment');
  assert.deepEqual(Object.keys(attach.Properties.Roles), ['authenticated']);
  const [[, client]] = ofType('AWS::Cognito::UserPoolClient');
  assert.equal(client.Properties.GenerateSecret, false);
  assert.equal(client.Properties.EnableTokenRevocation, true, 'sign-out revokes the refresh token');
  assert.deepEqual(client.Properties.ExplicitAuthFlows.sort(), ['ALLOW_REFRESH_TOKEN_AUTH', 'ALLOW_USER_PASSWORD_AUTH']);
});

test('the table is the app\'s (keys, on-demand, point-in-time recovery, TTL on tombstones) and is kept if the stack goes', () => {
  const [[, table]] = ofType('AWS::DynamoDB::Table');
  const p = table.Properties;
  assert.deepEqual(p.KeySchema, [{ AttributeName: 'userId', KeyType: 'HASH' }, { AttributeName: 'invoiceId', KeyType: 'RANGE' }]);
  assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
  assert.equal(p.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled, true);
  assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: 'expiresAt', Enabled: true });
  assert.equal(table.DeletionPolicy, 'Retain');
});

test('CloudFront serves the build over HTTPS with the Content Security Policy and HSTS as response headers', () => {
  const [[, headers]] = ofType('AWS::CloudFront::ResponseHeadersPolicy');
  const sec = headers.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig;
  assert.deepEqual(sec.ContentSecurityPolicy, { ContentSecurityPolicy: { Ref: 'ContentSecurityPolicy' }, Override: true });
  assert.ok(sec.StrictTransportSecurity.AccessControlMaxAgeSec >= 31536000 && sec.StrictTransportSecurity.Override);
  assert.equal(sec.FrameOptions.FrameOption, 'DENY');
  assert.ok(sec.ContentTypeOptions.Override);
  const [[, dist]] = ofType('AWS::CloudFront::Distribution');
  const behaviour = dist.Properties.DistributionConfig.DefaultCacheBehavior;
  assert.equal(behaviour.ViewerProtocolPolicy, 'redirect-to-https');
  assert.deepEqual(behaviour.ResponseHeadersPolicyId, { Ref: 'SiteHeaders' });
  const [[, bucket]] = ofType('AWS::S3::Bucket');
  assert.deepEqual(bucket.Properties.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  // the deploy script fills the policy from the build's csp.json
  const script = fs.readFileSync(path.join(root, 'deploy/deploy.sh'), 'utf8');
  assert.match(script, /dist\/csp\.json/);
  assert.match(script, /ContentSecurityPolicy=\$policy/);
  assert.match(script, /--content-encoding br/);
});

test('the outputs are what the Account and Settings pages ask for', () => {
  assert.deepEqual(Object.keys(t.Outputs).sort(), ['AppUrl', 'BucketName', 'DistributionId', 'IdentityPoolId', 'Region', 'TableName', 'UserPoolClientId', 'UserPoolId']);
});
