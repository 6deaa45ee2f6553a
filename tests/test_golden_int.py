"""The integer golden model against cases computed by hand."""

import numpy as np
import pytest

from hw.fixed import Fixed
from hw.pwl_int.model import Datapath, pwl_int


def run(dp, q, bps, K, C):
    return [int(v) for v in pwl_int(np.array(q), np.array(bps, dtype=np.int64), K, C, dp)]


# x s8.2, k s8.1, c s8.0, y s8.1: F = 3, output shift 2
DP = Datapath(Fixed(8, True, 2), Fixed(8, True, 1), Fixed(8, True, 0), Fixed(8, True, 1))


def test_widths_are_derived():
    assert (DP.F, DP.shift_prod, DP.shift_c, DP.out_shift) == (3, 0, 3, 2)
    assert DP.prod_bits == 16 and DP.acc_bits == 17


def test_basic_value():
    # 1.5 * 1.25 + 1.0 = 2.875 -> 5.75 output LSBs -> 6
    assert run(DP, [5], [], [3], [1]) == [6]


def test_round_half_up_at_exact_halves():
    # acc = 22 (2.75): 5.5 LSB -> 6 ; acc = -22: -5.5 -> -5 (half up, towards +inf)
    assert run(DP, [22], [], [1], [0]) == [6]
    assert run(DP, [-22], [], [1], [0]) == [-5]
    # acc = 21, 23: 5.25 -> 5, 5.75 -> 6; -21 -> -5, -23 -> -6
    assert run(DP, [21, 23, -21, -23], [], [1], [0]) == [5, 6, -5, -6]


def test_saturation_both_ends():
    assert run(DP, [127], [], [127], [127]) == [127]
    assert run(DP, [-128], [], [127], [-128]) == [-128]


def test_left_shift_when_F_below_output_frac():
    dp = Datapath(Fixed(8, True, 0), Fixed(8, True, 0), Fixed(8, True, 0), Fixed(8, True, 3))
    assert dp.out_shift == -3
    assert run(dp, [3, 4, -2], [], [2], [1]) == [56, 72, -24]
    assert run(dp, [16, -17], [], [1], [0]) == [127, -128]


def test_segments_count_breakpoints():
    # K = segment index, so y reads back the segment
    dp = Datapath(Fixed(8, True, 0), Fixed(8, True, 0), Fixed(8, True, 0), Fixed(8, True, 0))
    assert run(dp, [-128, -1, 0, 9, 10, 127], [0, 10], [0, 0, 0], [0, 1, 2]) == [0, 0, 1, 1, 2, 2]


def test_unsigned_input():
    dp = Datapath(Fixed(8, False, 0), Fixed(8, True, 0), Fixed(8, True, 0), Fixed(16, True, 0))
    assert dp.x_bits_signed == 9
    assert run(dp, [255], [], [-128], [0]) == [-32640]


def test_batched_tables_match_single():
    rng = np.random.default_rng(0)
    q = np.arange(-128, 128)
    bps = np.sort(rng.choice(np.arange(-127, 128), (5, 3), replace=False), axis=1)
    K = rng.integers(-128, 128, (5, 4))
    C = rng.integers(-128, 128, (5, 4))
    batch = pwl_int(q, bps, K, C, DP)
    for i in range(5):
        assert (batch[i] == pwl_int(q, bps[i], K[i], C[i], DP)).all()


@pytest.mark.parametrize("q,k,c", [(-2**31, -2**31, -2**31), (2**31 - 1, 2**31 - 1, 2**31 - 1),
                                   (-2**31, 2**31 - 1, 0), (12345678, -7654321, 99)])
def test_int32_corners_exact(q, k, c):
    # s32.29 input, s32.30 coefficients, s32.29 output: acc needs 65 bits
    dp = Datapath(Fixed(32, True, 29), Fixed(32, True, 30), Fixed(32, True, 30), Fixed(32, True, 29))
    assert not dp.fits_int64
    F = 59
    acc = q * k + (c << (F - 30))
    want = (acc + (1 << (F - 29 - 1))) >> (F - 29)
    want = min(max(want, -2**31), 2**31 - 1)
    assert run(dp, [q], [], [k], [c]) == [want]


def test_int64_path_agrees_with_python_ints():
    # same values through the int64 path and the Python-int path
    small = Datapath(Fixed(16, True, 8), Fixed(16, True, 10), Fixed(16, True, 12), Fixed(16, True, 8))
    assert small.fits_int64
    q = np.arange(-2**15, 2**15, 37)
    K, C = [-2**15, 12345], [2**15 - 1, -999]
    fast = pwl_int(q, [0], K, C, small)
    slow = [min(max(((k * int(v) << (small.shift_prod)) + (c << small.shift_c) + (1 << (small.out_shift - 1)))
                    >> small.out_shift, -2**15), 2**15 - 1)
            for v in q for k, c in [(K[int(v >= 0)], C[int(v >= 0)])]]
    assert [int(v) for v in fast] == slow
