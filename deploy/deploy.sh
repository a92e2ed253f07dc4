#!/usr/bin/env bash
# Builds Ledgerline and deploys it to your own AWS account in one command:
#   bash deploy/deploy.sh [stack-name] [region]        (defaults: ledgerline, $AWS_REGION or us-east-1)
# Needs the AWS CLI v2 with credentials allowed to create the stack's resources
# (CloudFormation, DynamoDB, Cognito, IAM role, S3, CloudFront). It
#   1. builds the release bundle (scripts/setup.sh installs what the build needs),
#   2. deploys deploy/ledgerline.template.json with the build's Content Security Policy
#      (dist/csp.json: the hash of the inline loader changes with every build; connect-src
#      allows this region's DynamoDB, Cognito and Cognito identity endpoints),
#   3. uploads dist/ to the stack's bucket: text and wasm files as their brotli copy with
#      Content-Encoding: br (every browser that runs Ledgerline accepts it), the rest as is,
#   4. invalidates CloudFront and prints what the Account and Settings pages ask for.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
stack="${1:-ledgerline}"
region="${2:-${AWS_REGION:-us-east-1}}"
command -v aws >/dev/null || { echo "deploy: the AWS CLI (aws) is needed: https://docs.aws.amazon.com/cli/" >&2; exit 1; }

# the build's tools (trunk, wasm-bindgen, wasm-opt): scripts/setup.sh installs them (on
# Debian, with the test tools) when they are not on the PATH already
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
command -v trunk >/dev/null && command -v wasm-opt >/dev/null || . scripts/setup.sh
trunk build --release

policy="$(node -e '
const csp = require(process.argv[1]);
const region = process.argv[2];
const d = { ...csp.directives };
d["connect-src"] = ["'"'"'self'"'"'", ...["dynamodb", "cognito-idp", "cognito-identity"].map((s) => `https://${s}.${region}.amazonaws.com`)];
console.log(Object.entries(d).map(([k, v]) => [k, ...v].join(" ")).join("; "));
' "$root/dist/csp.json" "$region")"

aws cloudformation deploy --region "$region" --stack-name "$stack" \
  --template-file deploy/ledgerline.template.json \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
  --parameter-overrides "ContentSecurityPolicy=$policy"

output() {
  aws cloudformation describe-stacks --region "$region" --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
bucket="$(output BucketName)"

type_of() {
  case "$1" in
    *.html) echo "text/html; charset=utf-8" ;;
    *.js) echo "text/javascript; charset=utf-8" ;;
    *.css) echo "text/css; charset=utf-8" ;;
    *.wasm) echo "application/wasm" ;;
    *.svg) echo "image/svg+xml" ;;
    *.png) echo "image/png" ;;
    manifest.json) echo "application/manifest+json" ;;
    *.json) echo "application/json; charset=utf-8" ;;
    *) echo "application/octet-stream" ;;
  esac
}
upload() {
  local f="$1"
  if [ -f "dist/$f.br" ]; then
    aws s3 cp --region "$region" "dist/$f.br" "s3://$bucket/$f" --content-encoding br \
      --content-type "$(type_of "$f")" --cache-control no-cache --only-show-errors
  else
    aws s3 cp --region "$region" "dist/$f" "s3://$bucket/$f" \
      --content-type "$(type_of "$f")" --cache-control no-cache --only-show-errors
  fi
}
# the new build's files first, index.html and sw.js (which name them) last: a visitor
# in the middle of a deploy never gets a page whose files are not there yet
(cd dist && find . -type f ! -name '*.br' ! -name '*.gz' ! -name csp.json \
  ! -name index.html ! -name sw.js | sed 's|^\./||') | while read -r f; do upload "$f"; done
upload sw.js
upload index.html
aws cloudfront create-invalidation --distribution-id "$(output DistributionId)" --paths '/*' >/dev/null

cat <<DONE
Ledgerline is deployed: $(output AppUrl)
  Account  -> Region $(output Region), User pool id $(output UserPoolId), App client id $(output UserPoolClientId), endpoint blank
  Account  -> Identity pool id $(output IdentityPoolId) (credentials from Cognito: nothing to paste)
  Settings -> DynamoDB -> Region $(output Region), Table $(output TableName), endpoint blank
DONE
