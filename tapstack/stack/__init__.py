"""The stack under test: packaging, deploy, discovery, outputs, emulator gaps, evidence.

``packaging`` builds the code bundle; ``deploy`` creates, updates or reuses the stack
(``tapstack deploy``, ``tapstack destroy``); ``discovery`` chooses which deployed stack
to use (``tapstack stacks``); ``outputs`` reads its outputs (``tapstack outputs``);
``gaps`` lists where LocalStack differs from AWS and closes the gaps it can
(``tapstack gaps``); ``notifications`` watches the topic; ``evidence`` gathers what a
failed end-to-end test should show.
"""
