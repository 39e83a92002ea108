"""Versioned data schemas (Avro, JSON Schema, Protobuf): inference from data, compatibility checks
under the Schema Registry modes, a subject folder of versions, and compatible evolutions.

One job per module: `violations` (what a check reports, the modes), `avro_compat`, `json_compat`,
`proto_compat` (one checker per format), `languages` (the three behind one face), `infer` (a schema from a data file), `subjects` (the
`schemas/<subject>/v<N>.*` folder), `evolve` (the compatible form of an intended change).
"""
