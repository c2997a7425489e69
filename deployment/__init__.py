"""What the stacks deploy and the local system stands in for, described without the CDK: the
configuration (its keys, their derivations, reading them, a CLI) and the page's security policy and
sign-in scopes. Imported by app.py, stacks/, local/ and scripts/; imports only `clipsearch`."""
