from licenceflow.cli import main

raise SystemExit(main())
