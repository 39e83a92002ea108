"""Pairs of .proto files (old, new), written for this project, covering Buf's WIRE and WIRE_JSON rule families.

Each entry: (id, old, new). `files()` names each pair's file `<id>.proto` in its own package, so one
`buf breaking` run over a folder of all the old files and one of all the new files checks every pair.
"""

from __future__ import annotations

HEADER = 'syntax = "proto3";\npackage {pkg}.v1;\n'
P2 = 'syntax = "proto2";\npackage {pkg}.v1;\n'

BASE = """
message Order {
  string id = 1;
  int32 quantity = 2;
  Status status = 3;
  repeated string tags = 4;
  Customer customer = 5;
}
message Customer { string name = 1; }
enum Status { STATUS_UNSPECIFIED = 0; STATUS_OPEN = 1; STATUS_CLOSED = 2; }
"""


def _swap(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new)


PAIRS: list[tuple[str, str, str]] = [
    ("same", BASE, BASE),
    ("add_field", BASE, _swap("Customer customer = 5;", "Customer customer = 5;\n  double price = 6;")),
    ("add_message", BASE, BASE + "message Refund { string order_id = 1; }\n"),
    ("add_enum_value", BASE, _swap("STATUS_CLOSED = 2;", "STATUS_CLOSED = 2; STATUS_HELD = 3;")),
    ("delete_field", BASE, _swap("int32 quantity = 2;", "")),
    ("delete_field_reserve_number", BASE, _swap("int32 quantity = 2;", "reserved 2;")),
    ("delete_field_reserve_both", BASE, _swap("int32 quantity = 2;", 'reserved 2; reserved "quantity";')),
    ("rename_field", BASE, _swap("int32 quantity = 2;", "int32 qty = 2;")),
    ("json_name_change", BASE, _swap("int32 quantity = 2;", 'int32 quantity = 2 [json_name = "qty"];')),
    ("int32_to_int64", BASE, _swap("int32 quantity = 2;", "int64 quantity = 2;")),
    ("int32_to_uint32", BASE, _swap("int32 quantity = 2;", "uint32 quantity = 2;")),
    ("int32_to_sint32", BASE, _swap("int32 quantity = 2;", "sint32 quantity = 2;")),
    ("int32_to_string", BASE, _swap("int32 quantity = 2;", "string quantity = 2;")),
    ("int32_to_bool", BASE, _swap("int32 quantity = 2;", "bool quantity = 2;")),
    ("int32_to_enum", BASE, _swap("int32 quantity = 2;", "Status quantity = 2;")),
    ("string_to_bytes", BASE, _swap("string id = 1;", "bytes id = 1;")),
    ("bytes_to_string", _swap("string id = 1;", "bytes id = 1;"), BASE),
    ("message_type_change", BASE + "message Buyer { string name = 1; }\n", _swap("Customer customer = 5;", "Buyer customer = 5;") + "message Buyer { string name = 1; }\n"),
    ("rename_message", BASE, _swap("message Customer { string name = 1; }", "message Client { string name = 1; }").replace("Customer customer", "Client customer")),
    ("delete_unused_message", BASE + "message Unused { int32 a = 1; }\n", BASE),
    ("singular_to_repeated_string", BASE, _swap("string id = 1;", "repeated string id = 1;")),
    ("singular_to_repeated_int", BASE, _swap("int32 quantity = 2;", "repeated int32 quantity = 2;")),
    ("repeated_to_singular_string", BASE, _swap("repeated string tags = 4;", "string tags = 4;")),
    ("message_to_repeated", BASE, _swap("Customer customer = 5;", "repeated Customer customer = 5;")),
    ("implicit_to_optional", BASE, _swap("int32 quantity = 2;", "optional int32 quantity = 2;")),
    ("into_oneof", BASE, _swap("int32 quantity = 2;", "oneof amount { int32 quantity = 2; }")),
    ("between_oneofs", _swap("int32 quantity = 2;", "oneof amount { int32 quantity = 2; }"),
     _swap("int32 quantity = 2;", "oneof size { int32 quantity = 2; }")),
    ("number_reused", BASE, _swap("int32 quantity = 2;", "int32 count = 2;").replace("Customer customer = 5;", "Customer customer = 5;\n  int32 quantity = 6;")),
    ("delete_enum_value", BASE, _swap("STATUS_CLOSED = 2;", "")),
    ("delete_enum_value_reserved", BASE, _swap("STATUS_CLOSED = 2;", "reserved 2;")),
    ("delete_enum_value_reserved_both", BASE, _swap("STATUS_CLOSED = 2;", 'reserved 2; reserved "STATUS_CLOSED";')),
    ("rename_enum_value", BASE, _swap("STATUS_CLOSED = 2;", "STATUS_DONE = 2;")),
    ("drop_reserved", _swap("int32 quantity = 2;", "int32 quantity = 2; reserved 9;"), BASE),
    ("drop_reserved_name", _swap("int32 quantity = 2;", 'int32 quantity = 2; reserved "old";'), BASE),
    ("drop_enum_reserved", _swap("STATUS_CLOSED = 2;", "STATUS_CLOSED = 2; reserved 7;"), BASE),
    ("package_change", BASE, "package {pkg}.v2;\n" + BASE),
    ("nested_field_delete", BASE.replace("message Customer { string name = 1; }", "message Customer { string name = 1; message Address { string city = 1; string zip = 2; } }"),
     BASE.replace("message Customer { string name = 1; }", "message Customer { string name = 1; message Address { string city = 1; } }")),
    ("float_to_double", _swap("int32 quantity = 2;", "float quantity = 2;"), _swap("int32 quantity = 2;", "double quantity = 2;")),
    ("fixed32_to_sfixed32", _swap("int32 quantity = 2;", "fixed32 quantity = 2;"), _swap("int32 quantity = 2;", "sfixed32 quantity = 2;")),
    ("int64_to_uint64", _swap("int32 quantity = 2;", "int64 quantity = 2;"), _swap("int32 quantity = 2;", "uint64 quantity = 2;")),
    ("map_to_repeated", _swap("repeated string tags = 4;", "map<string, string> tags = 4;"), _swap("repeated string tags = 4;", "repeated string tags = 4;")),
    ("rpc_request_change", BASE + "service Orders { rpc Get(Order) returns (Order); }\n", BASE + "service Orders { rpc Get(Customer) returns (Order); }\n"),
    ("enum_to_other_enum", BASE + "enum Phase { PHASE_UNSPECIFIED = 0; }\n",
     _swap("Status status = 3;", "Phase status = 3;") + "enum Phase { PHASE_UNSPECIFIED = 0; }\n"),
    ("optional_to_implicit", _swap("int32 quantity = 2;", "optional int32 quantity = 2;"), BASE),
    ("out_of_oneof", _swap("int32 quantity = 2;", "oneof amount { int32 quantity = 2; }"), BASE),
    ("delete_oneof_member", _swap("int32 quantity = 2;", "oneof amount { int32 quantity = 2; string note = 9; }"),
     _swap("int32 quantity = 2;", "oneof amount { int32 quantity = 2; }")),
    ("add_reserved", BASE, _swap("int32 quantity = 2;", "int32 quantity = 2; reserved 10 to 12;")),
    ("nested_enum_value_delete", BASE.replace("message Customer { string name = 1; }", "message Customer { string name = 1; enum Kind { KIND_UNSPECIFIED = 0; KIND_VIP = 1; } }"),
     BASE.replace("message Customer { string name = 1; }", "message Customer { string name = 1; enum Kind { KIND_UNSPECIFIED = 0; } }")),
    ("enum_alias_added", BASE, _swap("STATUS_CLOSED = 2;", "option allow_alias = true; STATUS_CLOSED = 2; STATUS_DONE = 2;")),
    ("repeated_to_map", _swap("repeated string tags = 4;", "repeated Customer tags = 4;"), _swap("repeated string tags = 4;", "map<string, Customer> tags = 4;")),
    ("rpc_deleted", BASE + "service Orders { rpc Get(Order) returns (Order); rpc List(Order) returns (Order); }\n",
     BASE + "service Orders { rpc Get(Order) returns (Order); }\n"),
    ("rpc_response_change", BASE + "service Orders { rpc Get(Order) returns (Order); }\n", BASE + "service Orders { rpc Get(Order) returns (Customer); }\n"),
    ("rpc_streaming", BASE + "service Orders { rpc Get(Order) returns (Order); }\n", BASE + "service Orders { rpc Get(Order) returns (stream Order); }\n"),
]

# proto2: required fields and explicit defaults (the file's header is P2 for these).
PAIRS_PROTO2: list[tuple[str, str, str]] = [
    ("p2_add_required", "message A { optional int32 x = 1; }\n", "message A { optional int32 x = 1; required int32 y = 2; }\n"),
    ("p2_required_to_optional", "message A { required int32 x = 1; }\n", "message A { optional int32 x = 1; }\n"),
    ("p2_default_change", "message A { optional int32 x = 1 [default = 3]; }\n", "message A { optional int32 x = 1 [default = 4]; }\n"),
    ("p2_default_added", "message A { optional int32 x = 1; }\n", "message A { optional int32 x = 1 [default = 4]; }\n"),
    ("p2_required_to_repeated", "message A { required string x = 1; }\n", "message A { repeated string x = 1; }\n"),
    ("p2_add_optional", "message A { optional int32 x = 1; }\n", "message A { optional int32 x = 1; optional string y = 2; }\n"),
]


def files() -> list[tuple[str, str, str]]:
    """Every pair with its header: (id, old text, new text)."""
    out = []
    for pid, old, new in PAIRS:
        head = 'syntax = "proto3";\n' if new.startswith("package") else HEADER
        out.append((pid, (HEADER + old).replace("{pkg}", pid), (head + new).replace("{pkg}", pid)))
    out += [(pid, (P2 + old).replace("{pkg}", pid), (P2 + new).replace("{pkg}", pid)) for pid, old, new in PAIRS_PROTO2]
    return out
