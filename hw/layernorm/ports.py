"""What the two LayerNorm / RMSNorm generators share (``unit.py``, buffered,
and ``twopass.py``, without a row store): their ports, the gamma/beta
registers with their write port, and that part of their manifests."""

from __future__ import annotations

from amaranth.hdl import Signal, signed
from amaranth.lib.wiring import In, Out


def cfg_addr_bits(row_len: int) -> int:
    return max(1, (2 * row_len - 1).bit_length())


def cfg_data_bits(model) -> int:
    return max(model.gamma_fmt.bits, model.beta_fmt.bits if model.has_beta else 0)


def signature(model, lanes: int = 1) -> dict:
    """The unit's ports (``cfg_*`` for an affine unit); checks that the rsqrt
    table is finer than the output. ``lanes`` = P > 1 (the multi-pass unit
    only): ``in_data``/``out_data`` hold P elements, lane l in bits
    ``[l*B +: B]`` (DESIGN.md "Lanes of a row-wise unit")."""
    fin, fo = model.input, model.out
    if model.rsqrt.output.frac <= fo.frac:
        raise ValueError(f"the rsqrt table's output (u{model.rsqrt.output.bits}.{model.rsqrt.output.frac}) "
                         f"needs more fractional bits than the unit's output {fo.label()}")
    sig = {
        "in_valid": In(1), "in_ready": Out(1),
        "in_data": In(signed(fin.bits) if lanes == 1 else lanes * fin.bits), "in_last": In(1),
        "out_valid": Out(1), "out_ready": In(1),
        "out_data": Out(signed(fo.bits) if lanes == 1 else lanes * fo.bits), "out_last": Out(1),
        "out_error": Out(1),
    }
    if model.affine:
        sig.update({"cfg_we": In(1), "cfg_addr": In(cfg_addr_bits(model.row_len)),
                    "cfg_data": In(cfg_data_bits(model))})
    return sig


def param_registers(m, unit) -> tuple[list, list]:
    """Gamma (and, with beta, beta) registers, reset to the generated
    contents, written through ``cfg_*``: gamma_i at i, beta_i at row_len + i
    (RMSNorm holds no beta; its addresses are ignored)."""
    md = unit.model
    n = md.row_len
    gam = [Signal(signed(md.gamma_fmt.bits), init=int(v), name=f"gamma{i}") for i, v in enumerate(md.gamma)]
    bet = [Signal(signed(md.beta_fmt.bits), init=int(v), name=f"beta{i}") for i, v in enumerate(md.beta)] \
        if md.has_beta else []
    with m.If(unit.cfg_we):
        with m.Switch(unit.cfg_addr):
            for i in range(n):
                with m.Case(i):
                    m.d.sync += gam[i].eq(unit.cfg_data[:md.gamma_fmt.bits])
                if bet:
                    with m.Case(n + i):
                        m.d.sync += bet[i].eq(unit.cfg_data[:md.beta_fmt.bits])
    return gam, bet


def affine_part(model, params: dict) -> dict:
    """The manifest's gamma/beta parts of an affine unit (nothing otherwise):
    the codes into ``params``; formats, reset and the write port's map and image."""
    if not model.affine:
        return {}
    n = model.row_len
    words = [int(g) & ((1 << model.gamma_fmt.bits) - 1) for g in model.gamma]
    formats = {"gamma": model.gamma_fmt.to_json()}
    where = f"gamma_i at i (0..{n - 1})"
    if model.has_beta:
        words += [int(b) & ((1 << model.beta_fmt.bits) - 1) for b in model.beta]
        formats["beta"] = model.beta_fmt.to_json()
        where += f", beta_i at {n} + i ({n}..{2 * n - 1})"
    params.update(gamma=list(model.gamma), beta=list(model.beta))
    return {"formats": formats, "reset": "reloads the generated gamma/beta" if model.has_beta else
            "reloads the generated gamma",
            "affine": {"addr_bits": cfg_addr_bits(n), "data_bits": cfg_data_bits(model),
                       "map": where + "; two's complement in the low bits of cfg_data; one word per clock with "
                              "cfg_we=1; rst reloads this image",
                       "image": [[a, w] for a, w in enumerate(words)]}}
