# ImageNet-like setting: masked image modeling only (SimMIM), every view
# masked at 0.6, same data and schedule.
_base_ = './hvpt_swin-demo_1xb64-3e_labelled-scenes-96px.py'

model = dict(loss_weights=dict(mim=1.0, con=0.0, mlc=0.0))
