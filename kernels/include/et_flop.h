/* SPDX-License-Identifier: Apache-2.0 */
/** @file et_flop.h
 *  @brief FLOP per unit of work of every kernel family: the one convention of the
 *  compiler's reports, the benchmark and kbench (a multiply-add is 2, every
 *  fmul/fadd/fsub/fdiv/compare 1, each exp/erf/tanh/log/sqrt 1, data movement 0).
 *
 *  Generated from the op registry (tools/et/compiler/ops/, each module's FLOP table)
 *  by `python -m et.compiler.ops`; tests/compiler/test_registry.py checks it is current.
 */
#ifndef ET_FLOP_H
#define ET_FLOP_H

#define ET_FLOP_BIAS 1u
#define ET_FLOP_BN_RUNNING 10u
#define ET_FLOP_ELEM 1u
#define ET_FLOP_GELU_ERF_BWD 11u
#define ET_FLOP_GELU_ERF_FWD 5u
#define ET_FLOP_GELU_TANH_BWD 18u
#define ET_FLOP_GELU_TANH_FWD 9u
#define ET_FLOP_LAYERNORM_DBETA 1u
#define ET_FLOP_LAYERNORM_DGAMMA 2u
#define ET_FLOP_LAYERNORM_DX 10u
#define ET_FLOP_LAYERNORM_FWD 8u
#define ET_FLOP_MAC 2u
#define ET_FLOP_MAXPOOL_COMPARE 1u
#define ET_FLOP_MAXPOOL_SCATTER 1u
#define ET_FLOP_MEAN 1u
#define ET_FLOP_MSE_BWD 2u
#define ET_FLOP_MSE_FWD 3u
#define ET_FLOP_RELU 1u
#define ET_FLOP_SGD_DECAY 2u
#define ET_FLOP_SGD_MOMENTUM 2u
#define ET_FLOP_SGD_STEP 2u
#define ET_FLOP_SOFTMAX_BWD 4u
#define ET_FLOP_SOFTMAX_FWD 5u
#define ET_FLOP_XENT_BWD 6u
#define ET_FLOP_XENT_FWD 4u
#define ET_FLOP_XENT_FWD_ROW 3u

#endif /* ET_FLOP_H */
