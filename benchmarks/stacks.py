"""Manifests the benchmarks generate: many remote training systems, written the way users write them."""

RTS = """apiVersion: fldecl/v1
kind: RemoteTrainingSystem
metadata: {{name: Party_{i}}}
spec:
  description: party {i}
  organization: {{name: IBM, region: US}}
  allowed_identities: [{{id: user-{i}, type: user}}]
  remote_admin: {{id: user-{i}, type: user}}
"""


def remote_training_systems(count: int) -> str:
    """``count`` RemoteTrainingSystem documents, Party_0 to Party_<count-1>, in one YAML stream."""
    return "---\n".join(RTS.format(i=i) for i in range(count))
