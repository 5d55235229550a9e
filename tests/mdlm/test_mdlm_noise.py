import pytest
import torch
from mdlm.noise_mdlm import LogLinearSchedule


def test_log_linear_masks_linearly_and_weights_one_over_t():
    schedule = LogLinearSchedule(eps=1e-3)
    t = torch.linspace(0.01, 1.0, 50)
    torch.testing.assert_close(schedule.move_chance(t), (1 - 1e-3) * t)
    torch.testing.assert_close(schedule.loss_weight(t), 1 / t, rtol=1e-4, atol=0)
    assert schedule.move_chance(torch.tensor(0.0)) == 0  # t = 0 is the clean data


def test_rate_is_the_derivative_of_the_total_noise():
    schedule = LogLinearSchedule(eps=0.01)
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-6
    numeric = (schedule.total_noise(t + h) - schedule.total_noise(t - h)) / (2 * h)
    torch.testing.assert_close(schedule.rate(t), numeric, rtol=1e-6, atol=0)


def test_sample_t_is_stratified_and_bounded():
    schedule = LogLinearSchedule(eps=1e-3)
    t = schedule.sample_t(64, generator=torch.Generator().manual_seed(0))
    assert t.shape == (64,) and t.min() >= 1e-3 and t.max() < 1
    strata = ((t - 1e-3) / (1 - 1e-3) * 64).floor().long()
    assert sorted(strata.tolist()) == list(range(64))  # one draw per 1/64-wide stratum


def test_plain_sampling_when_not_antithetic():
    t = LogLinearSchedule(antithetic=False).sample_t(1000, generator=torch.Generator().manual_seed(0))
    strata = (t * 10).floor().long().bincount(minlength=10)
    assert strata.min() > 60 and t.min() >= 1e-3  # uniform, but not one per stratum


@pytest.mark.parametrize("eps", [0.0, 1.0, -0.1])
def test_eps_outside_the_open_unit_interval_is_refused(eps):
    with pytest.raises(ValueError, match="eps must be in"):
        LogLinearSchedule(eps=eps)
