/* SPDX-License-Identifier: Apache-2.0 */
/* BatchNorm's running statistics (see et_layernorm.h): the per-channel update PyTorch makes in
 * training mode, from the mean and rstd the layernorm forward saved for the channel rows. A few
 * dozen channels: core 0 alone, no fork. */
#include "et_layernorm.h"

et_status et_batchnorm_running_f32(const et_ctx *ctx, const float *mean, const float *rstd,
                                   size_t channels, size_t count, float eps, float momentum,
                                   float *running_mean, float *running_var)
{
    if (!ctx || !mean || !rstd || !running_mean || !running_var || channels == 0 || count < 2 ||
        !(eps >= 0.0f) || !(momentum >= 0.0f && momentum <= 1.0f))
        return ET_ERR_ARG;
    const float keep = 1.0f - momentum;
    const float unbias = (float)count / (float)(count - 1);
    for (size_t c = 0; c < channels; ++c) {
        float var = 1.0f / (rstd[c] * rstd[c]) - eps;
        running_mean[c] = keep * running_mean[c] + momentum * mean[c];
        running_var[c] = keep * running_var[c] + momentum * (var * unbias);
    }
    return ET_OK;
}
